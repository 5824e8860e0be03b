"""jiracampaign: generate, record, submit and follow Rubin processing campaigns."""

__all__ = ["__version__"]

__version__ = "0.1.0"
