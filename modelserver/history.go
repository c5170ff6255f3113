package modelserver

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// History stores each user's conversation in SQLite (WAL mode, so readers
// never wait for the writer and a crash loses nothing committed). Users never
// see each other's messages: every query is keyed by user id. Both colors
// open the same file, so a conversation follows a deploy; while they
// overlap, two processes write it: the busy timeout waits out the other's
// write lock, and each transaction is one short append.
type History struct {
	db *sql.DB
}

const historySchema = `
CREATE TABLE IF NOT EXISTS messages (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    TEXT    NOT NULL,
	role       TEXT    NOT NULL,
	content    TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_user ON messages (user_id, id);`

// OpenHistory opens (creating if needed) the history database at path.
func OpenHistory(ctx context.Context, path string) (*History, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, historySchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("open history %s: journal mode %q, want wal (%v)", path, mode, err)
	}
	return &History{db: db}, nil
}

// Close closes the database.
func (h *History) Close() error { return h.db.Close() }

// Recent returns the user's last limit messages, oldest first.
func (h *History) Recent(ctx context.Context, userID string, limit int) ([]Message, error) {
	rows, err := h.db.QueryContext(ctx,
		`SELECT role, content FROM (
			SELECT id, role, content FROM messages WHERE user_id = ? ORDER BY id DESC LIMIT ?
		) ORDER BY id`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.Role, &m.Content); err != nil {
			return nil, fmt.Errorf("history of %s: %w", userID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history of %s: %w", userID, err)
	}
	return out, nil
}

// Append adds messages to the user's conversation in one transaction, so a
// question is never stored without its answer.
func (h *History) Append(ctx context.Context, userID string, msgs ...Message) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append history of %s: %w", userID, err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	for _, m := range msgs {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO messages (user_id, role, content, created_at) VALUES (?, ?, ?, ?)`,
			userID, m.Role, m.Content, now); err != nil {
			return fmt.Errorf("append history of %s: %w", userID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append history of %s: %w", userID, err)
	}
	return nil
}
