"""`python -m telehealth`: the same as the `telehealth` command."""

from telehealth.cli import main

raise SystemExit(main())
