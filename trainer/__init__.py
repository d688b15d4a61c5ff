"""The bot trainer's loop, without Rasa: read real conversations (Rasa's SQL
tracker store + the desk's database), rank them by what went wrong, store a
trainer's corrections and export them as Rasa training data / test stories.

Model loading, training and activation need Rasa and live in
scripts/compare_models.py and desk/trainer_views.py.
"""

from trainer.review import Conversation, Turn, load_conversations, rank  # noqa: F401
from trainer.store import CorrectionStore  # noqa: F401
