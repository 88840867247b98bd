from speckit_git_policy.cli import main

main()
