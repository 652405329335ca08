// Package ota holds what changes a device over the air, as pure logic the
// device package drives:
//
//   - the signed configuration QR (protocol §5): ParseQR verifies the
//     PCFG1. text (EdDSA with the provisioning key, expiry, lifetime,
//     device binding) and SignQR makes it for posctl;
//   - configuration patches (QR cfg claim, config.set patch): Merged checks
//     a patch against the config file, Applied is the applied patch with
//     the previous one kept to fall back to and the trial in progress;
//   - firmware updates (ota.update): Download fetches an artifact over
//     HTTPS with resume, Manifest.Check and VerifyFile check its Ed25519
//     signature, size and SHA-256, Slots installs it in the inactive A/B
//     slot and keeps the boot pointer that decides which binary runs and
//     rolls back.
//
// Nothing here talks to the broker or the speaker: the device package
// decides what to say and send, so every outcome is journaled with its
// answer.
//
// Invariants:
//   - no patch sets one of FixedKeys or exceeds MaxPatch: MergePatch (so
//     Stage), SignQR and ParseQR refuse it; Merged returns the file's
//     config unchanged unless the merged one validates;
//   - Applied runs one trial at a time, Stage only moves to a higher
//     version, and Rollback restores exactly the version and patch before
//     the trial;
//   - Manifest.Check, which needs nothing downloaded, passes only a
//     manifest signed by ota.pubkey over its version, size, SHA-256 and
//     downgrade flag; VerifyFile then holds the file to that size and
//     digest, and CheckForward refuses a version not newer than the
//     running release unless the signed flag allows it;
//   - a Download goes over https only, redirects included, and never
//     writes past Size bytes of its partial file;
//   - the boot pointer and a slot's binary are replaced whole (temporary
//     file, fsync, rename), and Decide starts a trial binary once: a trial
//     found started by any other binary is rolled back (FailCrashed).
package ota
