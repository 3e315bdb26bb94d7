"""The message catalogs (gettext ``.po`` sources and the ``wanbot.pot`` template), read by
:mod:`bot.i18n`. Data only: a package so that they ship in the wheel and are found through
importlib.resources."""
