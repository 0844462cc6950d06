-- migrate:up
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    total numeric(12, 2) NOT NULL CHECK (total >= 0),
    status text NOT NULL DEFAULT 'new',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id);

-- migrate:down
DROP INDEX orders_user_id_idx;
DROP TABLE orders;
