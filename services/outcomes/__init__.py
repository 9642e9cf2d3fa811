"""Outcome library (成果库): research reports, policy briefs, 内参, 专报, 快报, papers, books."""
