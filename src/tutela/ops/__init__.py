"""Operations: backups, restores and disaster recovery drills (docs/backups.md)."""
