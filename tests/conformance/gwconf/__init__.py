# SPDX-License-Identifier: Apache-2.0
"""gwconf: the conformance runner's library (see tests/conformance/README.md).

Modules, bottom up:
  model      object references, condition specs, the emulated API server (ObjectStore)
  corpus     case files, profiles (FEATURES.md), fixtures
  tlsgen     the TLS material of cases/_fixtures.yaml, made with the openssl CLI
  judge      the status checks of FORMAT.md section 4, pure functions on a status snapshot
  mutations  the prose edits of FORMAT.md section 6, as small functions
  drivers    how the gateway under test is driven (CheckDriver today, RunDriver next)
  runner     executes cases: phases, polling, results
  report     the upstream-shaped ConformanceReport
"""
