package store

import "time"

// GroupStats returns how many groups WithAppLockGrouped wrote and how many units they held,
// and how many units wait for a group now.
func (s *Store) GroupStats() (groups, units int64, waiting int) {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.groups, s.group.units, len(s.group.queue)
}

// SetGroupLockWait sets how long a group waits for a row lock, for the test's length.
func SetGroupLockWait(d time.Duration) (restore func()) {
	old := groupLockWait
	groupLockWait = d
	return func() { groupLockWait = old }
}
