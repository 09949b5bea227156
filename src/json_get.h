/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Reading a krtrace --json result back (compare, merge): a missing or
 * mistyped key reads as 0, "" or NULL, so a hand-edited or foreign file
 * cannot crash the reader; the callers check what they need.
 */
#ifndef KRT_JSON_GET_H
#define KRT_JSON_GET_H

#include <json-c/json.h>
#include <linux/types.h>

static inline __u64 json_get_u64(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_uint64(v);
}

static inline const char *json_get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static inline json_object *json_get_arr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

#endif
