"""What can go wrong with a fleet run, as one tree.

    FleetError                    anything the fleet refuses or cannot do (exit code 2)
     ├── FleetInputError          a profile, events file or option is not what is allowed;
     │    │                       the message names the file, line and what is allowed
     │    ├── ProfileError        the profile (TOML)
     │    └── TimelineError       the events file
     ├── FleetSetupError          the bench, Ray or the extra packages are not there or refuse
     └── BenchControlError        the bench's control API refused a command (its error and
                                  message, unchanged)

A device's own trouble (a refused token, a failed send) is never an exception here: it is
what the fleet measures, counted in the report.
"""

from __future__ import annotations

__all__ = ["FleetError", "FleetInputError", "ProfileError", "TimelineError", "FleetSetupError",
           "BenchControlError"]


class FleetError(Exception):
    pass


class FleetInputError(FleetError):
    pass


class ProfileError(FleetInputError):
    pass


class TimelineError(FleetInputError):
    pass


class FleetSetupError(FleetError):
    pass


class BenchControlError(FleetError):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"the bench refused: {error}: {message}")
        self.error = error
        self.message = message
