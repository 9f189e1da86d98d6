package store

// GroupStats returns how many groups WithAppLockGrouped wrote and how many units they held,
// and how many units wait for a group now.
func (s *Store) GroupStats() (groups, units int64, waiting int) {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.groups, s.group.units, len(s.group.queue)
}
