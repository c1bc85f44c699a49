//go:build !linux

package ledger

// CommitNice is the nice value of the committing thread on Linux; other
// systems commit at normal priority.
const CommitNice = 0

func (l *Ledger) withCommitPriority(commit func()) { commit() }
