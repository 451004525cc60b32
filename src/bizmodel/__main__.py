from bizmodel.cli import main

main()
