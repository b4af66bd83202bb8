/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: the one table of Gateway API features and whether gatehouse
 * claims each. GatewayClass status.supportedFeatures lists the claimed
 * ones, the conformance runner reads that list, and translate consults the
 * table where the spec makes behaviour depend on support (TLS Terminate,
 * mixed TLS modes). The data plane widens the claims as it grows.
 */
#include <string.h>

#include "base/base.h"
#include "status/status.h"

#include "base/banned.h"

/* Sorted by name (supportedFeatures is a sorted list). */
static const struct gw_feature features[] = {
    {"BackendTLSPolicy", true},
    {"BackendTLSPolicySANValidation", true},
    {"GRPCRoute", true},
    {"GRPCRouteNamedRouteRule", true},
    {"Gateway", true},
    {"GatewayAddressEmpty", true},
    {"GatewayBackendClientCertificate", true},
    {"GatewayFrontendClientCertificateValidation", true},
    {"GatewayFrontendClientCertificateValidationInsecureFallback", true},
    {"GatewayHTTPListenerIsolation", true},
    {"GatewayHTTPSListenerDetectMisdirectedRequests", true},
    {"GatewayInfrastructurePropagation", true},
    {"GatewayPort8080", true},
    {"GatewayStaticAddresses", true},
    {"HTTPRoute", true},
    {"HTTPRoute303RedirectStatusCode", true},
    {"HTTPRoute307RedirectStatusCode", true},
    {"HTTPRoute308RedirectStatusCode", true},
    {"HTTPRouteBackendProtocolH2C", true},
    {"HTTPRouteBackendProtocolWebSocket", true},
    {"HTTPRouteBackendRequestHeaderModification", true},
    {"HTTPRouteBackendTimeout", true},
    {"HTTPRouteCORS", true},
    {"HTTPRouteDestinationPortMatching", true},
    {"HTTPRouteHostRewrite", true},
    {"HTTPRouteMethodMatching", true},
    {"HTTPRouteNamedRouteRule", true},
    {"HTTPRouteParentRefPort", true},
    {"HTTPRoutePathRedirect", true},
    {"HTTPRoutePathRewrite", true},
    {"HTTPRoutePortRedirect", true},
    {"HTTPRouteQueryParamMatching", true},
    {"HTTPRouteRequestMirror", true},
    {"HTTPRouteRequestMultipleMirrors", true},
    {"HTTPRouteRequestPercentageMirror", true},
    {"HTTPRouteRequestTimeout", true},
    {"HTTPRouteResponseHeaderModification", true},
    {"HTTPRouteRetry", true},
    {"HTTPRouteRetryBackendTimeout", true},
    {"HTTPRouteRetryConnectionError", true},
    {"HTTPRouteSchemeRedirect", true},
    {"ListenerSet", true},
    {"Mesh", false},
    {"MeshClusterIPMatching", false},
    {"MeshConsumerRoute", false},
    {"MeshHTTPRouteBackendRequestHeaderModification", false},
    {"MeshHTTPRouteNamedRouteRule", false},
    {"MeshHTTPRouteQueryParamMatching", false},
    {"MeshHTTPRouteRedirectPath", false},
    {"MeshHTTPRouteRedirectPort", false},
    {"MeshHTTPRouteRewritePath", false},
    {"MeshHTTPRouteSchemeRedirect", false},
    {"ReferenceGrant", true},
    {"TCPRoute", true},
    {"TLSRoute", true},
    {"TLSRouteModeMixed", true},
    {"TLSRouteModeTerminate", true},
    {"UDPRoute", true},
};

const struct gw_feature *
gw_status_features(size_t *n)
{
    *n = GW_ARRAY_LEN(features);
    return features;
}

bool
gw_status_feature_claimed(const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(features); i++)
        if (!strcmp(features[i].name, name))
            return features[i].claimed;
    return false;
}
