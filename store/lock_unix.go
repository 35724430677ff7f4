//go:build unix

package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockSQLiteFile takes an exclusive flock on DBFILE.migrate-lock; the kernel
// drops it if the process dies. In-memory databases need no lock.
func lockSQLiteFile(ctx context.Context, db *sql.DB) (func(), error) {
	path, err := sqliteMainFile(ctx, db)
	if err != nil || path == "" {
		return func() {}, err
	}
	f, err := os.OpenFile(path+".migrate-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			_ = f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		_ = f.Close()
	}, nil
}
