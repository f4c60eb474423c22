from kuledger.cli.main import main

main()
