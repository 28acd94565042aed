from maildesk.cli import main

main()
