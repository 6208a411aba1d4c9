"""Channels a playbook step goes out on: email (SMTP, or the outbox table alone when no server
is configured), CSM tasks and in-app notifications (rows other tools read).

Each channel's `send` is called by `cs_assets.state.delivery.dispatch` for one claimed step and
keys what it writes on the step's Message-ID, so a step is never written or sent twice.
"""
