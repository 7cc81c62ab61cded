"""The incident: its models, the commands that change it and the table of allowed transitions."""
