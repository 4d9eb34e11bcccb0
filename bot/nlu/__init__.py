"""Natural-language understanding: training data, training, the model and parsing."""

from bot.nlu import environment as _environment

_environment.apply()
