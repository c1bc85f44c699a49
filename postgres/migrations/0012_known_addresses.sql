-- Addresses a user logged in from (auth: exempt from the user's lock for
-- 30 days), for every process on the database, which each process kept in
-- its own memory before. key is "known:" and a keyed hash of the user's id
-- and the address (an IPv6 client's /64), so the table keeps no list of
-- where users log in from; a mark older than auth's window counts as none,
-- and each new mark deletes some of those (by known_at), so the table
-- holds about one window of keys. A new table: its index is built in the
-- migration's transaction, as there is nothing to read.
CREATE TABLE IF NOT EXISTS known_addresses (
	key      TEXT COLLATE "C" PRIMARY KEY,
	known_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS known_addresses_at ON known_addresses (known_at);
