"""Reports for people: the weekly CS report, EBR decks and the war-story analyses."""
