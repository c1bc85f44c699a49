package auth

// TakePasswordHashSlots takes every password-hashing slot, as hashes in
// progress would, until the returned func gives them back.
func (s *Service) TakePasswordHashSlots() (giveBack func()) {
	for range cap(s.hashes) {
		s.hashes <- struct{}{}
	}
	return func() {
		for range cap(s.hashes) {
			<-s.hashes
		}
	}
}
