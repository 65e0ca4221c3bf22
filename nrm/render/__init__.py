"""Figures and the paper, drawn from run folders and analysis results (never re-running a model).

- ``figures``  seaborn/matplotlib figures of logged data (Agg backend), saved as PNG
- ``results``  the analyses ``make paper`` needs, computed from one scale's runs and saved as files
- ``text``     numbers and tables as Markdown
- ``paper``    assembles paper/paper.md and the self-contained paper/paper.html
"""
