-- A person's conversations in the order their pages list them (newest last
-- event first, then id byte by byte), so a page reads its rows in index
-- order with no sort, whatever PostgreSQL estimates about the person.
CREATE INDEX conversations_by_user_recent ON conversations (org, usr, last_at DESC, ext_id);
DROP INDEX conversations_by_user;
