-- The schema a hub of release 0.1 made on SQLite: frozen, never edited, for the upgrade tests.
-- Generated once at commit d03951e5c7b4f5874cd94be5b159627891dae7ba (the released layout) by
-- a script that wrote, in order, each statement of the store's numbered steps 1-5
-- (server/store/migrations.py) with its schema_version row, then the console's own
-- runner table console_schema_version and CONSOLE_MIGRATIONS step 1 (server/console/db.py) with
-- its row. Checked at that commit: the tables, columns, constraints and indexes are the same as
-- those SqliteStore plus ConsoleDb made. Statements are separated by "-- end" lines.
CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_ms INTEGER NOT NULL
    )
-- end
CREATE TABLE workers (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                mobile TEXT,
                home_phone TEXT,
                line_manager TEXT,
                last_checkin_ms INTEGER
            )
-- end
CREATE TABLE devices (
                id TEXT PRIMARY KEY,
                worker_id TEXT REFERENCES workers(id),
                online INTEGER NOT NULL DEFAULT 0,
                boot INTEGER,
                fw TEXT,
                last_seen_ms INTEGER,
                last_heartbeat_ms INTEGER,
                rssi INTEGER,
                battery INTEGER,
                queued INTEGER,
                last_checkin_ms INTEGER
            )
-- end
CREATE TABLE events (
                id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                ts_ms INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                link TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                body TEXT NOT NULL
            )
-- end
CREATE INDEX events_by_device ON events (device_id, received_ms)
-- end
CREATE INDEX events_by_received ON events (received_ms)
-- end
CREATE TABLE alarms (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL CHECK (kind IN
                    ('panic', 'duress', 'overdue', 'missed_checkin', 'device_offline')),
                state TEXT NOT NULL DEFAULT 'open' CHECK (state IN
                    ('open', 'acknowledged', 'resolved')),
                device_id TEXT,
                worker_id TEXT,
                event_id TEXT,
                opened_ms INTEGER NOT NULL,
                acknowledged_by TEXT,
                acknowledged_ms INTEGER,
                resolved_by TEXT,
                resolved_ms INTEGER,
                outcome TEXT,
                notes TEXT
            )
-- end
CREATE INDEX alarms_by_state ON alarms (state, opened_ms)
-- end
CREATE TABLE dead_letters (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                received_ms INTEGER NOT NULL,
                topic TEXT NOT NULL,
                payload TEXT NOT NULL,
                payload_encoding TEXT NOT NULL CHECK (payload_encoding IN ('text', 'hex')),
                payload_size INTEGER NOT NULL,
                reason TEXT NOT NULL
            )
-- end
CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at_ms INTEGER NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT,
                detail TEXT NOT NULL DEFAULT '{}'
            )
-- end
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
-- end
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
-- end
CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'viewer')),
                token_hash TEXT NOT NULL UNIQUE,
                created_ms INTEGER NOT NULL,
                revoked_ms INTEGER
            )
-- end
INSERT INTO schema_version (version, description, applied_ms) VALUES (1, 'devices, workers, events, alarms, dead letters, audit log, API tokens', 1700000000000)
-- end
ALTER TABLE workers ADD COLUMN apprise_urls TEXT NOT NULL DEFAULT '[]'
-- end
ALTER TABLE workers ADD COLUMN policy TEXT
-- end
ALTER TABLE devices ADD COLUMN sms_secret TEXT
-- end
ALTER TABLE alarms ADD COLUMN policy TEXT
-- end
ALTER TABLE alarms ADD COLUMN session_id INTEGER
-- end
ALTER TABLE alarms ADD COLUMN started_ms INTEGER
-- end
ALTER TABLE alarms ADD COLUMN next_step_ms INTEGER
-- end
CREATE TABLE sessions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                worker_id TEXT REFERENCES workers(id),
                device_id TEXT,
                kind TEXT NOT NULL CHECK (kind IN ('visit', 'shift')),
                state TEXT NOT NULL DEFAULT 'active' CHECK (state IN
                    ('active', 'due', 'overdue', 'ended')),
                started_ms INTEGER NOT NULL,
                expected_end_ms INTEGER,
                grace_s INTEGER NOT NULL,
                prealert_s INTEGER NOT NULL,
                prealert_sent INTEGER NOT NULL DEFAULT 0,
                address TEXT,
                contact_name TEXT,
                contact_phone TEXT,
                accompanied INTEGER NOT NULL DEFAULT 0,
                approved_by TEXT,
                checkin_interval_s INTEGER,
                last_checkin_ms INTEGER,
                ended_ms INTEGER,
                ended_by TEXT,
                next_deadline_ms INTEGER
            )
-- end
CREATE INDEX sessions_by_state ON sessions (state, next_deadline_ms)
-- end
CREATE INDEX sessions_by_device ON sessions (device_id, state)
-- end
CREATE TABLE register (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                worker_id TEXT,
                device_id TEXT,
                signed_in_ms INTEGER NOT NULL,
                signed_out_ms INTEGER
            )
-- end
CREATE INDEX register_open ON register (signed_out_ms, device_id)
-- end
CREATE TABLE notifications (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                action_key TEXT NOT NULL,
                alarm_id INTEGER NOT NULL REFERENCES alarms(id),
                step INTEGER NOT NULL,
                repeat INTEGER NOT NULL,
                channel TEXT NOT NULL,
                recipient_name TEXT NOT NULL,
                recipient_role TEXT NOT NULL,
                recipient_ref TEXT NOT NULL,
                text TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                    ('pending', 'sent', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_result TEXT,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            )
-- end
CREATE INDEX notifications_by_alarm ON notifications (alarm_id, state)
-- end
INSERT INTO schema_version (version, description, applied_ms) VALUES (2, 'sessions, sign-in register, escalation notifications, worker contacts, device SMS secret', 1700000000000)
-- end
ALTER TABLE devices ADD COLUMN provisioned_ms INTEGER
-- end
ALTER TABLE devices ADD COLUMN revoked_ms INTEGER
-- end
INSERT INTO schema_version (version, description, applied_ms) VALUES (3, 'device provisioning: when a device was given broker credentials, when revoked', 1700000000000)
-- end
ALTER TABLE sessions ADD COLUMN lease_owner TEXT
-- end
ALTER TABLE sessions ADD COLUMN lease_until_ms INTEGER
-- end
ALTER TABLE alarms ADD COLUMN lease_owner TEXT
-- end
ALTER TABLE alarms ADD COLUMN lease_until_ms INTEGER
-- end
INSERT INTO schema_version (version, description, applied_ms) VALUES (4, 'leases: which hub holds a due session deadline or an open alarm''s ladder, and until when', 1700000000000)
-- end
CREATE TABLE events_by_device_id (
                id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                ts_ms INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                link TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                body TEXT NOT NULL,
                links TEXT NOT NULL,
                PRIMARY KEY (device_id, id)
            )
-- end
INSERT INTO events_by_device_id
                (rowid, id, device_id, kind, ts_ms, seq, link, received_ms, body, links)
               SELECT rowid, id, device_id, kind, ts_ms, seq, link, received_ms, body, link
               FROM events ORDER BY rowid
-- end
DROP TABLE events
-- end
ALTER TABLE events_by_device_id RENAME TO events
-- end
CREATE INDEX events_by_device ON events (device_id, received_ms)
-- end
CREATE INDEX events_by_received ON events (received_ms)
-- end
INSERT INTO schema_version (version, description, applied_ms) VALUES (5, 'events keyed by (device, event id): one device''s ids never collide with another''s; the paths each event arrived by', 1700000000000)
-- end
CREATE TABLE IF NOT EXISTS console_schema_version (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)
-- end
CREATE TABLE console_users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'viewer')),
                password_hash TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                disabled_ms BIGINT
            )
-- end
CREATE TABLE console_logins (
                token_hash TEXT PRIMARY KEY,
                user_name TEXT NOT NULL REFERENCES console_users(name),
                csrf TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL,
                ended_ms BIGINT
            )
-- end
CREATE TABLE visit_plans (
                session_id BIGINT PRIMARY KEY,
                planned_start_ms BIGINT NOT NULL,
                planned_by TEXT NOT NULL
            )
-- end
CREATE TABLE visit_records (
                session_id BIGINT PRIMARY KEY,
                reason TEXT NOT NULL,
                points TEXT NOT NULL,
                agreements TEXT NOT NULL,
                concerns TEXT NOT NULL,
                written_by TEXT NOT NULL,
                written_ms BIGINT NOT NULL
            )
-- end
INSERT INTO console_schema_version (version, applied_ms) VALUES (1, 1700000000000)
-- end
