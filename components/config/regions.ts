// Azure's region names (the `name` of `az account list-locations`), offline: `location` and
// `azure-native:location` must be one of them, or the first Azure call of `pulumi up` fails.
//
// Source, public cloud: Microsoft Learn, "Azure regions list" (learn.microsoft.com/azure/reliability/regions-list),
// column "Programmatic name", page dated 2025-09-23 (MicrosoftDocs/reliability-docs,
// articles/reliability/regions-list.md, commit 01021ab80d1aebd1d8b5de481d80a9855b487954), read 2026-12-05.
// It lists access-restricted regions (marked there) and one region "coming soon" (denmarkeast) too; swedensouth is
// named there only as Sweden Central's restricted pair. Sovereign clouds, for stacks whose azure-native provider
// points at them: Azure operated by 21Vianet (docs.azure.cn/reliability/regions-list: chinaeast ... chinanorth3)
// and Azure Government (Azure.Core AzureLocation on learn.microsoft.com: usgovvirginia, usgovtexas, usgovarizona,
// usdodeast, usdodcentral).
// A region Azure opened after that date is refused: add its programmatic name here (and the date you checked).
export const AZURE_REGIONS_AS_OF = "2025-09-23";

export const AZURE_REGIONS: readonly string[] = [
    // Public cloud (regions-list, "All" tab)
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast", "belgiumcentral",
    "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia", "centralus", "chilecentral",
    "denmarkeast", "eastasia", "eastus", "eastus2", "francecentral", "francesouth", "germanynorth",
    "germanywestcentral", "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest",
    "koreacentral", "koreasouth", "malaysiawest", "mexicocentral", "newzealandnorth", "northcentralus",
    "northeurope", "norwayeast", "norwaywest", "polandcentral", "qatarcentral", "southafricanorth",
    "southafricawest", "southcentralus", "southindia", "southeastasia", "spaincentral", "swedencentral",
    "swedensouth", "switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth", "uksouth", "ukwest",
    "westcentralus", "westeurope", "westindia", "westus", "westus2", "westus3",
    // Azure operated by 21Vianet
    "chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3",
    // Azure Government
    "usgovvirginia", "usgovtexas", "usgovarizona", "usdodeast", "usdodcentral",
];
