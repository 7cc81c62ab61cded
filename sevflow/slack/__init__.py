"""Slack, as pure code: no network, no Temporal, no web framework.

- `signature`: verifying that a request came from Slack (v0 HMAC-SHA256, 5-minute window).
- `commands`: the `/incident` slash command's text parsed into intents, and its help.
- `intents`: what a person asked for (slash command, button or form), and the workflow command it is.
- `blocks`: Block Kit for the incident card, channel name and topic, announcement, modals and pages.
- `interactions`: `block_actions` and `view_submission` payloads parsed into intents.
- `text`: mrkdwn escaping and Slack's `<...>` markup.
- `manifest`: the scopes every Web API method needs, checked against slack-app-manifest.yaml.

Who may do what is not here: `sevflow.incident.permissions`, enforced by the workflow for every entry
point.
"""
