from typemux.cli import main

raise SystemExit(main())
