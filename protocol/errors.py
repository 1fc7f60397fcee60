"""The one error type of the wire contract."""


class ProtocolError(ValueError):
    """A topic, payload or SMS line that breaks the contract.

    ``field`` names what is wrong (``event.ts``, ``topic``, ``payload``) and ``problem`` says how,
    so a dead-letter row or a log line tells an operator exactly what to fix.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
