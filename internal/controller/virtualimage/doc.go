// Package virtualimage reconciles VirtualImages: it imports the data source
// into DVCR through an importer pod and reports phase, progress, sizes and
// format; deleting the image deletes its DVCR repository.
package virtualimage
