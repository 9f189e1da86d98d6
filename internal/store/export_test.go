package store

import "time"

// SetGroupLockWait sets how long a group waits for a row lock, for the test's length.
func SetGroupLockWait(d time.Duration) (restore func()) {
	old := groupLockWait
	groupLockWait = d
	return func() { groupLockWait = old }
}
