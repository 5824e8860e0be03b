"""``python -m jiracampaign``."""

from .cli import main

main()
