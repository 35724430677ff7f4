package power

func RedfishDriverInfo() DriverInfo { return DriverInfo{Name: "redfish"} }
func WebhookDriverInfo() DriverInfo { return DriverInfo{Name: "webhook"} }
