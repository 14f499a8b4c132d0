"""Stories: what the gateway serves, and the origins it reads them from."""

from gateway.stories.models import PUBLIC, Story
from gateway.stories.origin import DEFAULT_SAMPLES, FileOrigin, Origin

__all__ = ["DEFAULT_SAMPLES", "PUBLIC", "FileOrigin", "Origin", "Story"]
