"""Everything that knows discord.py: the bot subclass, its command tree, embeds and buttons.

Named ``discord_ui`` so that it never shadows the ``discord`` package. The core (catalog,
providers, media, jobs) never imports from here.
"""
