"""``python -m local.translate [template] [--params "K=V ..."]``: print the translated template."""

from local.template import main

raise SystemExit(main())
