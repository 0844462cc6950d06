-- migrate:up
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_name_idx ON users (name);

-- migrate:down
DROP INDEX users_name_idx;
DROP TABLE users;
