package crds_test

// Manifests for TestSchema. The "seed/" ones are copied unchanged from the user
// documentation and must be accepted; the others probe single rules.

const seedVMQuick = `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: linux-vm
  namespace: vms
  labels:
    vm: linux
spec:
  virtualMachineClassName: generic
  runPolicy: AlwaysOn
  enableParavirtualization: true
  osType: Generic
  bootloader: BIOS
  cpu:
    cores: 1
    coreFraction: 10%
  memory:
    size: 1Gi
  provisioning:
    type: UserData
    userData: |
      #cloud-config
      users:
      - name: cloud
        passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
        shell: /bin/bash
        sudo: ALL=(ALL) NOPASSWD:ALL
        chpasswd: { expire: False }
        lock_passwd: false
        ssh_authorized_keys:
          - ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDTXjTmx3hq2EPDQHWSJN7By1VNFZ8colI5tEeZDBVYAe9Oxq4FZsKCb1aGIskDaiAHTxrbd2efoJTcPQLBSBM79dcELtqfKj9dtjy4S1W0mydvWb2oWLnvOaZX/H6pqjz8jrJAKXwXj2pWCOzXerwk9oSI4fCE7VbqsfT4bBfv27FN4/Vqa6iWiCc71oJopL9DldtuIYDVUgOZOa+t2J4hPCCSqEJK/r+ToHQbOWxbC5/OAufXDw2W1vkVeaZUur5xwwAxIb3wM3WoS3BbwNlDYg9UB2D8+EZgNz1CCCpSy1ELIn7q8RnrTp0+H8V9LoWHSgh3VCWeW8C/MnTW90IR      
  blockDeviceRefs:
    - kind: VirtualDisk
      name: linux-disk
`

const seedVMNginx = `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: linux-vm
  namespace: vms
  labels:
    vm: linux
spec:
  virtualMachineClassName: generic
  runPolicy: AlwaysOn
  provisioning:
    type: UserData
    userData: |
      #cloud-config
      package_update: true
      packages:
        - nginx
      run_cmd:
        - systemctl daemon-relaod
        - systemctl enable --now nginx
      users:
      - name: cloud
        # password: cloud
        passwd: $6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i.
        shell: /bin/bash
        sudo: ALL=(ALL) NOPASSWD:ALL
        chpasswd: { expire: False }
        lock_passwd: false      
  cpu:
    cores: 1
  memory:
    size: 2Gi
  blockDeviceRefs:
    # Порядок дисков и образов в данном блоке определяет приоритет загрузки.
    - kind: VirtualDisk
      name: ubuntu-2204-root
`

// vdBlank is a blank VirtualDisk up to its size's value.
const vdBlank = "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualDisk\nmetadata: {name: x, namespace: vms}\nspec:\n  persistentVolumeClaim:\n    size: "

// vmBase is a minimal VM; tests append spec fields to it.
const vmBase = `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: vm
  namespace: vms
spec:
  virtualMachineClassName: generic
  cpu:
    cores: 1
  memory:
    size: 1Gi
  blockDeviceRefs:
    - kind: VirtualDisk
      name: d
`

const vmopBase = `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: restart-linux-vm
  namespace: vms
spec:
  virtualMachineName: linux-vm
`

const classBase = `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineClass
metadata:
  name: generic
spec:
`

func long(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

var schemaCases = map[string]schemaCase{
	"seed/01 vi ubuntu http": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata:
  name: ubuntu
  namespace: vms
spec:
  storage: ContainerRegistry
  dataSource:
    type: HTTP
    http:
      url: "https://cloud-images.ubuntu.com/minimal/releases/jammy/release-20230615/ubuntu-22.04-minimal-cloudimg-amd64.img"
`},
	"seed/02 vd linux-disk objectref": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: linux-disk
  namespace: vms
spec:
  persistentVolumeClaim:
    size: 10Gi
    storageClassName: linstor-thin-r2 # Подставьте ваше название SC.
  dataSource:
    type: ObjectRef
    objectRef:
      kind: VirtualImage
      name: ubuntu
`},
	"seed/03 vm quick start": {doc: seedVMQuick},
	"seed/04 vi ubuntu-img": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata:
  name: ubuntu-img
  namespace: vms
spec:
  storage: ContainerRegistry
  dataSource:
    type: HTTP
    http:
      url: "https://cloud-images.ubuntu.com/minimal/releases/jammy/release-20230615/ubuntu-22.04-minimal-cloudimg-amd64.img"
`},
	"seed/05 vi container image": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata:
  name: ubuntu-2204
spec:
  storage: ContainerRegistry
  dataSource:
    type: ContainerImage
    containerImage:
      image: docker.io/username/ubuntu2204:latest
`},
	"seed/06 vi upload": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata:
  name: some-image
spec:
  storage: ContainerRegistry
  dataSource:
    type: Upload
`},
	"seed/07 vd blank 100M": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: vd-blank
  namespace: vms
spec:
  persistentVolumeClaim:
    storageClassName: linstor-thin-r2
    size: 100M
`},
	"seed/08 vd from cvi": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: ubuntu-root
  namespace: vms
spec:
  persistentVolumeClaim:
    size: 10Gi
    storageClassName: linstor-thin-r2
  dataSource:
    type: ObjectRef
    objectRef:
      kind: ClusterVirtualImage
      name: ubuntu-img
`},
	"seed/09 vd resize patch": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: ubuntu-root
  namespace: vms
spec:
  persistentVolumeClaim:
    size: 11Gi
    storageClassName: linstor-thin-r2
  dataSource:
    type: ObjectRef
    objectRef:
      kind: ClusterVirtualImage
      name: ubuntu-img
`},
	"seed/10 vmbda": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineBlockDeviceAttachment
metadata:
  name: vd-blank-attachment
  namespace: vms
spec:
  virtualMachineName: linux-vm
  blockDeviceRef:
    kind: VirtualDisk
    name: vd-blank
`},
	"seed/11 vd http": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: ubuntu-2204-root
  namespace: vms
spec:
  persistentVolumeClaim:
    size: 10Gi
  dataSource:
    type: HTTP
    http:
      url: "https://cloud-images.ubuntu.com/minimal/releases/jammy/release-20230615/ubuntu-22.04-minimal-cloudimg-amd64.img"
`},
	"seed/12 vm nginx": {doc: seedVMNginx},
	"seed/13 vm userDataRef": {doc: vmBase + `  provisioning:
    type: UserDataRef
    userDataRef:
      kind: Secret
      name: linux-vm-cloud-init
`},
	"seed/14 vmip static": {doc: `apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineIPAddress
metadata:
  name: linux-vm-ip
  namespace: vms
spec:
  type: Static
  staticIP: "10.66.10.20"
`},
	"seed/15 vm static ip ref": {doc: vmBase + `  virtualMachineIPAddressName: linux-vm-ip
`},
	"seed/16 vm placement": {doc: vmBase + `  tolerations:
    - key: "node-role.kubernetes.io/system"
      operator: Exists
      effect: NoSchedule
  nodeSelector:
    node-role.kubernetes.io/system: ""
`},
	"seed/17 vmop restart": {doc: vmopBase + `  type: Restart
`},
	"seed/18 vm approvalMode": {doc: vmBase + `  disruptions:
    approvalMode: Automatic
`},
	"seed/19 vm AlwaysOff": {doc: vmBase + `  runPolicy: AlwaysOff
`},

	"vm coreFraction 0%":              {doc: vmBase + "  cpu: {cores: 1, coreFraction: 0%}\n", want: "coreFraction"},
	"vm coreFraction 101%":            {doc: vmBase + "  cpu: {cores: 1, coreFraction: 101%}\n", want: "coreFraction"},
	"vm coreFraction 100%":            {doc: vmBase + "  cpu: {cores: 1, coreFraction: 100%}\n"},
	"vm coreFraction 5%":              {doc: vmBase + "  cpu: {cores: 1, coreFraction: 5%}\n"},
	"vm coreFraction Auto":            {doc: vmBase + "  cpu: {cores: 1, coreFraction: Auto}\n"},
	"vm cores 0":                      {doc: vmBase + "  cpu: {cores: 0}\n", want: "spec.cpu.cores"},
	"vm memory integer rejected":      {doc: vmBase + "  memory: {size: 1073741824}\n", want: "spec.memory.size"},
	"vm memory bad":                   {doc: vmBase + "  memory: {size: lots}\n", want: "spec.memory.size"},
	"vm memory banana in words":       {doc: vmBase + "  memory: {size: banana}\n", want: "spec.memory.size: Invalid value: \"banana\": must be a quantity such as 1Gi"},
	"vm memory 1.5Gi":                 {doc: vmBase + "  memory: {size: 1.5Gi}\n"},
	"vd size banana in words":         {doc: vdBlank + "banana\n", want: "spec.persistentVolumeClaim.size: Invalid value: \"banana\": must be a quantity such as 10Gi"},
	"vd size 10Gi":                    {doc: vdBlank + "10Gi\n"},
	"vd size integer":                 {doc: vdBlank + "1073741824\n"},
	"vd size boolean":                 {doc: vdBlank + "true\n", want: "spec.persistentVolumeClaim.size"},
	"vm both spellings differ":        {doc: vmBase + "  disruptions: {approvalMode: Automatic, restartApprovalMode: Manual}\n", want: "two spellings of one setting"},
	"vm both spellings same":          {doc: vmBase + "  disruptions: {approvalMode: Automatic, restartApprovalMode: Automatic}\n"},
	"vm restartApprovalMode only":     {doc: vmBase + "  disruptions: {restartApprovalMode: Automatic}\n"},
	"vm approvalMode bad enum":        {doc: vmBase + "  disruptions: {approvalMode: Sometimes}\n", want: "spec.disruptions.approvalMode"},
	"vm userData too long":            {doc: vmBase + "  provisioning: {type: UserData, userData: " + long(2049) + "}\n", want: "exceeds 2048 byte limit"},
	"vm userData 2048":                {doc: vmBase + "  provisioning: {type: UserData, userData: " + long(2048) + "}\n"},
	"vm provisioning mixed":           {doc: vmBase + "  provisioning: {type: UserData, userData: x, userDataRef: {name: s}}\n", want: "UserData cannot have userDataRef or sysprepRef."},
	"vm provisioning missing member":  {doc: vmBase + "  provisioning: {type: UserDataRef}\n", want: "UserDataRef cannot have userData or sysprepRef."},
	"vm sysprep default kind":         {doc: vmBase + "  osType: Windows\n  provisioning: {type: SysprepRef, sysprepRef: {name: s}}\n"},
	"vm legacy efi":                   {doc: vmBase + "  osType: Legacy\n  bootloader: EFI\n", want: "The Legacy osType requires the BIOS bootloader."},
	"vm legacy bios ok":               {doc: vmBase + "  osType: Legacy\n"},
	"vm legacy provisioning":          {doc: vmBase + "  osType: Legacy\n  provisioning: {type: UserData, userData: x}\n", want: "does not support provisioning"},
	"vm legacy 5 disks no pv":         {doc: vmBase + "  osType: Legacy\n  enableParavirtualization: false\n  blockDeviceRefs: [{kind: VirtualDisk, name: a},{kind: VirtualDisk, name: b},{kind: VirtualDisk, name: c},{kind: VirtualDisk, name: d},{kind: VirtualDisk, name: e}]\n", want: "at most 4 block devices"},
	"vm 17 disks":                     {doc: vmBase + "  blockDeviceRefs: [" + disks(17) + "]\n", want: "spec.blockDeviceRefs"},
	"vm liveMigrationPolicy Never":    {doc: vmBase + "  liveMigrationPolicy: Never\n", want: "spec.liveMigrationPolicy"},
	"vm affinity":                     {doc: vmBase + "  affinity:\n    virtualMachineAndPodAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {vm: linux}}\n        topologyKey: kubernetes.io/hostname\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{key: a, operator: In, values: [b]}]\n"},
	"vm gpus":                         {doc: vmBase + "  gpus: [{gpuClassName: nvidia.a100}]\n"},
	"vm unknown field pruned":         {doc: vmBase + "  bogus: 1\n", want: "unknown field spec.bogus"},
	"vmop start force":                {doc: vmopBase + "  type: Start\n  force: true\n", want: "The `Start` operation cannot be performed forcibly."},
	"vmop stop force":                 {doc: vmopBase + "  type: Stop\n  force: true\n"},
	"vmop immutable":                  {doc: vmopBase + "  type: Stop\n", old: vmopBase + "  type: Restart\n", want: ".spec is immutable"},
	"vmop restore w/o restore":        {doc: vmopBase + "  type: Restore\n", want: "Restore requires restore field."},
	"vmop migrate on restart":         {doc: vmopBase + "  type: Restart\n  migrate: {nodeSelector: {a: b}}\n", want: "spec.migrate can only be set"},
	"vmop clone no names":             {doc: vmopBase + "  type: Clone\n  clone: {mode: DryRun}\n", want: "At least one of customization.namePrefix"},
	"vmop clone prefix":               {doc: vmopBase + "  type: Clone\n  clone: {mode: Strict, customization: {namePrefix: new-}}\n"},
	"vmop clone long suffix":          {doc: vmopBase + "  type: Clone\n  clone: {mode: Strict, customization: {nameSuffix: " + long(60) + "}}\n", want: "nameSuffix length must be between 1 and 59"},
	"vi http without http":            {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: x, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource: {type: HTTP}\n", want: "HTTP requires http and cannot have ContainerImage, ObjectRef or Upload."},
	"vi default storage":              {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: x, namespace: vms}\nspec:\n  dataSource: {type: Upload}\n"},
	"vi bad url":                      {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: x, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource: {type: HTTP, http: {url: 'ftp://x'}}\n", want: "spec.dataSource.http.url"},
	"vi checksum":                     {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata: {name: x, namespace: vms}\nspec:\n  storage: ContainerRegistry\n  dataSource: {type: HTTP, http: {url: 'http://x/a.img', checksum: {md5: 0123456789abcdef0123456789abcdef}}}\n"},
	"vd objectRef VirtualDisk denied": {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualDisk\nmetadata: {name: x, namespace: vms}\nspec:\n  dataSource: {type: ObjectRef, objectRef: {kind: VirtualDisk, name: a}}\n", want: "spec.dataSource.objectRef.kind"},
	"cvi objectRef vi w/o ns":         {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: x}\nspec:\n  dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage, name: a}}\n", want: "The namespace is required for VirtualDisk, VirtualImage and VirtualDiskSnapshot"},
	"cvi objectRef vi with ns":        {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: x}\nspec:\n  dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage, name: a, namespace: vms}}\n"},
	"cvi objectRef long ns":           {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: x}\nspec:\n  dataSource: {type: ObjectRef, objectRef: {kind: VirtualDisk, name: a, namespace: " + long(64) + "}}\n", want: "The namespace must be no longer than 63 characters."},
	"cvi no type":                     {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: x}\nspec:\n  dataSource: {http: {url: 'http://x/y'}}\n", want: "spec.dataSource.type"},
	"cvi container image w/ secret":   {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: ClusterVirtualImage\nmetadata: {name: x}\nspec:\n  dataSource: {type: ContainerImage, containerImage: {image: 'registry.example.com:5000/img/ubuntu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', imagePullSecret: {name: s, namespace: ns1}}}\n"},
	"vmip bad type":                   {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineIPAddress\nmetadata: {name: x, namespace: vms}\nspec: {type: Dynamic}\n", want: "spec.type"},
	"vmipl":                           {doc: "apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineIPAddressLease\nmetadata: {name: ip-10-66-10-2}\nspec: {virtualMachineIPAddressRef: {name: a, namespace: vms}}\n"},
	"vmclass generic":                 {doc: classBase + genericClass},
	"vmclass model w/o model":         {doc: classBase + "  cpu: {type: Model}\n", want: "Model requires model and cannot have features or discovery"},
	"vmclass host w/ model":           {doc: classBase + "  cpu: {type: Host, model: Nehalem}\n", want: "HostPassthrough and Host cannot have model, features or discovery"},
	"vmclass discovery":               {doc: classBase + "  cpu: {type: Discovery, discovery: {nodeSelector: {matchExpressions: [{key: a, operator: Exists}]}}}\n  nodeSelector: {matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: DoesNotExist}]}\n"},
	"vmclass cpu immutable":           {doc: classBase + "  cpu: {type: Model, model: Haswell}\n", old: classBase + "  cpu: {type: Model, model: Nehalem}\n", want: ".spec.cpu is immutable"},
	"vmclass cores max<=min":          {doc: classBase + "  cpu: {type: Host}\n  sizingPolicies: [{cores: {min: 4, max: 2}}]\n", want: "The maximum must be greater than the minimum"},
	"vmclass default cf 150":          {doc: classBase + "  cpu: {type: Host}\n  sizingPolicies: [{cores: {min: 1, max: 2}, defaultCoreFraction: 150}]\n", want: "The default core fraction must be a number from 1 to 100, or 'Auto'."},
	"vmclass default cf Auto":         {doc: classBase + "  cpu: {type: Host}\n  sizingPolicies: [{cores: {min: 1, max: 2}, defaultCoreFraction: Auto, coreFractions: [5, 100], memory: {min: 1Gi, max: 8Gi, step: 512Mi, perCore: {min: 1Gi, max: 2Gi}}}]\n"},
	"vmclass coreFractions 0":         {doc: classBase + "  cpu: {type: Host}\n  sizingPolicies: [{cores: {min: 1, max: 2}, coreFractions: [0]}]\n", want: "coreFractions"},
}

func disks(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += ","
		}
		s += "{kind: VirtualDisk, name: d" + string(rune('a'+i)) + "}"
	}
	return s
}

const genericClass = `  cpu:
    type: Model
    model: Nehalem
  sizingPolicies:
    - cores: {min: 1, max: 4}
      dedicatedCores: [false]
      coreFractions: [5, 10, 20, 50, 100]
    - cores: {min: 5, max: 8}
      dedicatedCores: [false]
      coreFractions: [20, 50, 100]
    - cores: {min: 9, max: 16}
      dedicatedCores: [true, false]
      coreFractions: [50, 100]
    - cores: {min: 17, max: 1024}
      dedicatedCores: [true, false]
      coreFractions: [100]
`
