"""A Pexip Infinity management-node simulator: a real HTTP server with the vendor's behaviour.

Vendor API (basic auth, default admin/admin):

- commands: `POST /api/admin/command/v1/{participant,conference,platform}/<action>/` (all 14);
  JSON, form-encoded or multipart bodies; Tastypie-style 400 errors.
- status: `GET /api/admin/status/v1/{conference,participant,management_vm,worker_vm,alarm}/
  [<id>/]`, `licensing/` (a list of exactly one object) and `/api/admin/history/v1/alarm/`
  (cleared alarms), with the real node's field sets (shared/pexip-docs/real-node-facts.md).
- configuration: `GET /api/admin/configuration/v1/{conference,conference_alias,
  system_location,conference_sync_template,system_backup}/[<id>/]`; a backup's detail URL
  downloads it (streamed, never held in memory) and `DELETE` removes it.
- lists paginate (`limit` default 20, `limit=0` all, `offset`, `meta.next`/`previous`) and
  filter on any field: `field=`, `__iexact`, `__icontains`, `__startswith`, `__in`, ...

Control API (no auth), driven with SimulatorControl: `POST /_sim/reset`, `GET|DELETE
/_sim/stats`, `GET|POST|DELETE /_sim/faults`, `GET|POST /_sim/settings`, `POST /_sim/backups`,
and for node health `POST /_sim/alarms`, `DELETE /_sim/alarms/<id>`, `POST /_sim/licensing`,
`POST /_sim/worker_vm/<id>` (maintenance mode, sync state, load).

Seed data (restored by reset; live ids are uuid5s, stable across resets):

- running conferences:
  - VMR_1 (aliases meet@example.com, vmr1@meet.example.com): Alice Parkes (chair, SIP,
    presenting), Bob Smith (guest, WebRTC, connected without media: `has_media: false`),
    Carol Diaz (guest, H323, muted herself: `is_client_muted`)
  - VMR_2 (vmr2@meet.example.com): Alice Cooper (guest, WebRTC), Dan Brown (chair, SIP, on
    hold)
  - Board_Room (board@example.com), locked: Frank Ng (chair, SIP) in the conference,
    Eve Adams (guest, WebRTC) held in the waiting room
- configured, not running: VMR_3 (vmr3@meet.example.com), Town_Hall (townhall@example.com,
  lecture)
- system locations London (nodes 10.0.1.11, 10.0.1.12), Oslo (10.0.2.11), New York (10.0.3.11)
- sync templates 1 "Sales VMRs" and 2 "Engineering VMRs"
- Conferencing Nodes pexconf-lon-1, -lon-2, -osl-1, -nyc-1 (worker_vm ids 2-5); no alarms;
  licences: 100 ports (in use: the calls up), 50 VMRs...
- node pexmgr, `version` "36 (82470.0.0)" (backups: version 36, build 82470.0.0); backups
  (64 KiB, passphrase "pexbot-demo") at 02:00 UTC on each of the three previous days, plus
  one from version 35, 45 days ago

Behaviour worth knowing: a dialled call appears at once (`service_type: "connecting"`, no
media) and answers after
`answer_delay` (0.3 s); a destination containing "noanswer" or "busy" never answers and goes
away then. Anyone joining a locked conference (dial, transfer) waits in the waiting room
(`service_type: "waiting_room"`) until admitted. A conference stops when its last participant
leaves, or when only legs dialled with `keep_conference_alive_never` are left. A conference
`is_started` once a chair is in it (guests alone wait for the host). A dial with
`streaming: true` is a stream (`is_streaming`, no mute or transfer). `backup_create` adds a
file after `backup_delay` (0.5 s).
"""

from __future__ import annotations

from .app import SimulatorApp, create_app
from .client import SimulatorControl
from .models import Settings
from .server import serve_forever
from .state import NodeState

__all__ = [
    "NodeState",
    "Settings",
    "SimulatorApp",
    "SimulatorControl",
    "create_app",
    "serve_forever",
]
