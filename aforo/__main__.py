from aforo.cli import main

main()
