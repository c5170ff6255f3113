// Package driver is the contract between the reconciler's pipeline and the
// runtimes that run model-server colors, as Nomad's plugins/drivers is for
// its task drivers: the Driver interface, the Instance it starts, the
// Status it observes, CPU priorities and the errors the pipeline branches
// on. The implementations live in driver/process, driver/docker and
// driver/kubernetes; the reconciler builds one per runtime name
// (spec.Runtime*).
package driver
