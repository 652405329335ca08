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
//     HTTPS with resume, Verify checks its size, SHA-256 and Ed25519
//     signature, Slots installs it in the inactive A/B slot and keeps the
//     boot pointer that decides which binary runs and rolls back.
//
// Nothing here talks to the broker or the speaker: the device package
// decides what to say and send, so every outcome is journaled with its
// answer.
package ota
