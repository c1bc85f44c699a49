-- A user's password version (auth: a session is tied to the password its
-- login checked): 1 at sign-up, one more each time a new password hash is
-- set (a change or a reset), in the same statement. A login's session is
-- inserted only while the version it read with the password hash is still
-- the user's, so a login that checked the old password while a reset or
-- change completed stores no session. Users from before this column start
-- at 1, as new ones do.
ALTER TABLE users ADD COLUMN password_version INTEGER NOT NULL DEFAULT 1;
