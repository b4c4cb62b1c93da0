"""Teams: creation with their first keys, and the bootstrap team of a fresh installation."""

from __future__ import annotations

from dataclasses import dataclass

from cstar.server.domain.clock import Clock
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.ids import new_key_id, new_team_id
from cstar.server.domain.keys import NewKey, generate_key
from cstar.server.domain.models import ApiKey, KeyKind, KeyMode, Team
from cstar.server.store.contract import Store

BOOTSTRAP_META_KEY = "bootstrap_team"
TEAM_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class CreatedTeam:
    """A new team and its first keys, in clear text this once."""

    team: Team
    secret_key: str
    publishable_key: str


def key_record(team_id: str, new: NewKey, name: str, clock: Clock) -> ApiKey:
    return ApiKey(
        id=new_key_id(),
        team_id=team_id,
        name=name,
        kind=new.kind,
        mode=new.mode,
        prefix=new.prefix,
        last4=new.last4,
        key_hash=new.key_hash,
        created_at=clock(),
    )


class TeamService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create_team(self, name: str, *, mode: KeyMode = KeyMode.TEST) -> CreatedTeam:
        team, keys, created = self._new_team(name, mode)
        await self._store.create_team(team, keys)
        return created

    def _new_team(self, name: str, mode: KeyMode) -> tuple[Team, list[ApiKey], CreatedTeam]:
        cleaned = name.strip()
        if not cleaned or len(cleaned) > TEAM_NAME_MAX:
            raise InvalidParameter("name", f"team name must be 1 to {TEAM_NAME_MAX} characters")
        team = Team(id=new_team_id(), name=cleaned, created_at=self._clock())
        secret = generate_key(KeyKind.SECRET, mode)
        publishable = generate_key(KeyKind.PUBLISHABLE, mode)
        keys = [
            key_record(team.id, secret, "Default secret key", self._clock),
            key_record(team.id, publishable, "Default publishable key", self._clock),
        ]
        return team, keys, CreatedTeam(team, secret.raw, publishable.raw)

    async def bootstrap(self) -> CreatedTeam | None:
        """On the very first start, create a team so the server is usable at once.

        Returns the new team (its keys are shown once), or ``None`` when the database already has
        a team or another process is bootstrapping it concurrently. The team and the marker that
        says "bootstrapped" are written in one transaction: a first start that fails leaves
        nothing behind, and the next start tries again.
        """
        if await self._store.count_teams() > 0:
            return None
        team, keys, created = self._new_team("Default team", KeyMode.TEST)
        if not await self._store.create_first_team(team, keys, marker=BOOTSTRAP_META_KEY):
            return None
        return created

    async def list_teams(self) -> list[Team]:
        return await self._store.list_teams()
