"""The conformity report (合规性审查报告): HTML page, PDF and one map per conflict.

A stored check never changes (only its sign-off is added once), so everything here is
derived from the ConformityCheck and its RuleResults: `context` assembles the data,
`maps` renders the conflict maps with the map services' own Mapnik styles, `pdf` prints
the same template with WeasyPrint, `views` serves them with the project's data permissions.
"""
