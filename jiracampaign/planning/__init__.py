"""From a campaign spec to rendered BPS submit files: spec, split, render, plan."""
